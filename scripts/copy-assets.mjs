// Build step after tsc: copies the web console's static files (src/console/static: HTML, CSS, JS, icon) next to
// the compiled console module (dist/src/console/static), where it loads them from at run time. tsc copies only
// what it compiles; the package ships dist/.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../src/console/static', import.meta.url));
const to = fileURLToPath(new URL('../dist/src/console/static', import.meta.url));
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
