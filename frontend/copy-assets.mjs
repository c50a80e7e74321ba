// Copies the chart library's built files from node_modules into the Python package, where the
// reader serves them under /static/vendor/ — the dashboard must work on a LAN without internet.
import { copyFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "src", "hanport", "reader", "dashboard", "static", "vendor");

// [file in node_modules, name served under /static/vendor/]
const files = [
  ["uplot/dist/uPlot.iife.min.js", "uPlot.iife.min.js"],
  ["uplot/dist/uPlot.min.css", "uPlot.min.css"],
  ["uplot/LICENSE", "uPlot.LICENSE"],
];

mkdirSync(target, { recursive: true });
for (const [source, name] of files) {
  const from = join(here, "node_modules", source);
  if (!existsSync(from)) {
    console.error(`copy-assets: ${from} is missing; run \`npm ci\` in frontend/ first`);
    process.exit(1);
  }
  copyFileSync(from, join(target, name));
}
console.log(`copy-assets: ${files.length} files -> ${target}`);
