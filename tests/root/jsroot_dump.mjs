// tests/root/jsroot_dump.mjs: JSROOT (the ROOT team's JavaScript reader) dumps a tree as JSON, so
// the C++ tests can check files deepjet writes against an independent reader.
//
//   node tests/root/jsroot_dump.mjs <jsroot-package-dir> <file.root> <tree-path> [branch,branch...]
//
// Prints {"entries": N, "branches": {"name": [value per entry, ...]}} with every top-level branch.
// With a branch list, only those branches are read, and "leaves": {"name": {"class", "title",
// "length"}} adds every top-level branch's first leaf as JSROOT decoded the tree record.
// Values are numbers, booleans, strings, or arrays of them; 64-bit integers that a JavaScript
// number cannot hold exactly (JSROOT gives them as BigInt) are printed as decimal strings.
// Exits with status 1 and a message on stderr if JSROOT cannot read the file.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [packageDir, file, treePath, only] = process.argv.slice(2);
if (!packageDir || !file || !treePath) {
  console.error('usage: jsroot_dump.mjs <jsroot-package-dir> <file.root> <tree-path>');
  process.exit(2);
}
const modules = path.join(packageDir, 'modules');
const { openFile } = await import(pathToFileURL(path.join(modules, 'main.mjs')).href);
const { TSelector, treeProcess } = await import(pathToFileURL(path.join(modules, 'tree.mjs')).href);

// Numbers, BigInts, strings and (typed) arrays of them, as JSON-ready values.
const plain = value => {
  if (typeof value === 'bigint') return value.toString();
  if (ArrayBuffer.isView(value) || Array.isArray(value)) return Array.from(value, plain);
  return value;
};

try {
  const rootFile = await openFile(file);
  const tree = await rootFile.readObject(treePath);
  const leaves = Object.fromEntries(tree.fBranches.arr.map(branch => {
    const leaf = branch.fLeaves?.arr?.[0];
    return [branch.fName, { class: leaf?._typename ?? null, title: leaf?.fTitle ?? null, length: leaf?.fLen ?? null }];
  }));
  const wanted = only ? new Set(only.split(',').filter(name => name.length > 0)) : null;
  const names = tree.fBranches.arr.map(branch => branch.fName).filter(name => !wanted || wanted.has(name));
  const columns = Object.fromEntries(names.map(name => [name, []]));
  const selector = new TSelector();
  for (const name of names) selector.addBranch(name, name);
  selector.Process = function () {
    for (const name of names) columns[name].push(plain(this.tgtobj[name]));
  };
  if (names.length > 0 && tree.fEntries > 0) await treeProcess(tree, selector);
  const output = JSON.stringify(wanted ? { entries: Number(tree.fEntries), branches: columns, leaves }
                                       : { entries: Number(tree.fEntries), branches: columns },
                                (key, value) => typeof value === 'bigint' ? value.toString() : value);
  process.stdout.write(output + '\n');
} catch (error) {
  console.error(`jsroot_dump: ${file}: ${error?.stack ?? error}`);
  process.exit(1);
}
