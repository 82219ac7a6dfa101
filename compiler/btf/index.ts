/** BTF: type model, encoder, decoder, `.BTF.ext` func/line info. */
export * from "./types.ts";
export * from "./strings.ts";
export * from "./encode.ts";
export * from "./decode.ts";
export * from "./ext.ts";
export * from "./maps.ts";
export * from "./sk-lookup.ts";
export * from "./dump.ts";
