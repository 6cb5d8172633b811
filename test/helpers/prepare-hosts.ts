/**
 * Builds the cached Debian root that the systemd e2e tests boot, before tap
 * runs (scripts/test.sh calls it as root). debootstrap takes 1–8 minutes here
 * depending on the mirror; inside a test it would eat that test file's
 * timeout. Bounded by buildBaseRoot's own limits; a failure here is reported
 * and the tests that need the root then fail with the same reason.
 */
import { buildBaseRoot, systemdHostsUnsupported } from './nspawn.js';

const unsupported = systemdHostsUnsupported();
if (unsupported) {
  console.log(`prepare-hosts: no systemd test hosts here (${unsupported}); their tests will skip or say why`);
} else {
  const started = Date.now();
  try {
    const root = await buildBaseRoot((line) => console.log(`prepare-hosts: ${line}`));
    console.log(`prepare-hosts: Debian root for systemd hosts ready in ${Math.round((Date.now() - started) / 1000)} s (${root})`);
  } catch (err) {
    console.error(`prepare-hosts: could not build the Debian root: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
