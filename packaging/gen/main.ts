import { readFileSync } from 'node:fs';
import { renderConfigTemplate } from './config-template.js';
import { renderCopyright } from './copyright.js';
import { renderErrorDoc } from './error-doc.js';
import { renderManPage } from './man-page.js';

/**
 * build.sh's entry to the generators (and `npm run gen:errors`'s); writes the result on stdout.
 *   main.js config-template
 *   main.js man VERSION YYYY-MM-DD
 *   main.js copyright LIB_DIR LIB_PATH NODE_LICENSE_FILE NODE_VERSION BUNDLE_METAFILE MODULES_ROOT
 *   main.js errors                    (docs/errors.md)
 */
function run(argv: string[]): string {
  const [what, ...args] = argv;
  switch (what) {
    case 'config-template':
      return renderConfigTemplate();
    case 'man': {
      const [version, date] = args;
      if (version === undefined || date === undefined) throw new Error('usage: main.js man VERSION YYYY-MM-DD');
      return renderManPage(version, date);
    }
    case 'copyright': {
      const [libDir, libPath, nodeLicenseFile, nodeVersion, bundleMetafile, modulesRoot] = args;
      if (libDir === undefined || libPath === undefined || nodeLicenseFile === undefined || nodeVersion === undefined || bundleMetafile === undefined || modulesRoot === undefined) {
        throw new Error('usage: main.js copyright LIB_DIR LIB_PATH NODE_LICENSE_FILE NODE_VERSION BUNDLE_METAFILE MODULES_ROOT');
      }
      return renderCopyright({ libDir, libPath, nodeLicense: readFileSync(nodeLicenseFile, 'utf8'), nodeVersion, bundle: { metafile: bundleMetafile, modulesRoot } });
    }
    case 'errors':
      return renderErrorDoc();
    default:
      throw new Error(`unknown generator ${JSON.stringify(what)}; use config-template, man, copyright or errors`);
  }
}

try {
  process.stdout.write(run(process.argv.slice(2)));
} catch (err) {
  process.stderr.write(`packaging/gen: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
