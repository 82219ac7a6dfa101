/**
 * Types for BPF handlers imported through the tsbpf esbuild plugin (`tsbpf/esbuild`).
 *
 * A handler compiled at bundle time is imported with the `?object` suffix; its default export is the ELF object's
 * bytes, ready for `loadObject()` (tsbpf/runtime) or `openKernel().load()`:
 *
 * ```ts
 * /// <reference types="tsbpf/object" />   (or "types": ["tsbpf/object"] in tsconfig.json)
 * import handler from "./handler.bpf.ts?object";
 * const obj = loadObject(handler);
 * ```
 *
 * The suffix is what lets TypeScript type the import: a specifier naming the `.ts` file itself resolves to that file
 * (which has no default export), while `./handler.bpf.ts?object` names no file, so TypeScript falls back to the
 * pattern below. The suffix works on any file the plugin compiles, whatever its name.
 */
declare module "*?object" {
  /** The compiled ELF object (`.o` bytes): programs, maps, BTF. */
  const object: Uint8Array;
  export default object;
}
