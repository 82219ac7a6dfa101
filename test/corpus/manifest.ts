/**
 * Typed access to the C corpus manifest (test/fixtures/c/corpus.json), for tests in any area that want clang-built
 * sk_lookup objects with described contexts and expected results.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Folder holding the corpus sources, objects, build.sh and corpus.json. */
export const CORPUS_DIR = fileURLToPath(new URL("../fixtures/c/", import.meta.url));

/** A struct key layout: [field, type, offset]; be16/be32 fields are network byte order. */
export interface StructLayout {
  struct: string;
  fields: Array<[string, "u16" | "u32" | "be16" | "be32", number]>;
}

/** One map of an object, as the manifest describes it (bpftool's type names). */
export interface CorpusMap {
  name: string;
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  key: string | StructLayout;
  value: string;
}

/** One clang object of the corpus. */
export interface CorpusObject {
  file: string;
  source: string;
  maps: CorpusMap[];
  subprograms?: string[];
  globalData?: string;
}

/** A context + map fill + expected result (formats: see the manifest's `conventions`). */
export interface CorpusCase {
  name: string;
  ctx: Record<string, string | number>;
  maps?: Record<string, Record<string, unknown>>;
  expect: {
    verdict?: "SK_PASS" | "SK_DROP";
    selected?: string | null;
    maps?: Record<string, Record<string, unknown>>;
    testRunErrno?: string;
    note?: string;
  };
  trace?: string;
}

/** One program and its cases. */
export interface CorpusProgram {
  name: string;
  object: string;
  maps: string[];
  behaviour: string;
  cases: CorpusCase[];
}

/** A program the kernel verifier must refuse (reject/NAME.o). */
export interface CorpusReject {
  file: string;
  source: string;
  program: string;
  /** errno of the failed BPF_PROG_LOAD: EACCES or EINVAL. */
  errno: "EACCES" | "EINVAL";
  /** A line of the kernel verifier's log. */
  message: string;
  why: string;
}

/** The whole manifest. */
export interface Corpus {
  conventions: Record<string, string>;
  objects: CorpusObject[];
  programs: CorpusProgram[];
  chains: {
    maps: Record<string, Record<string, Record<string, unknown>>>;
    ctx: Record<string, string | number>;
    note: string;
    cases: Array<{ programs: string[]; result: string }>;
  };
  rejects: CorpusReject[];
}

/** Reads and parses corpus.json. */
export function loadCorpus(): Corpus {
  return JSON.parse(readFileSync(`${CORPUS_DIR}corpus.json`, "utf8")) as Corpus;
}

/** Absolute path of a corpus object, e.g. `corpusPath("basic.o")`. */
export function corpusPath(file: string): string {
  return `${CORPUS_DIR}${file}`;
}

/** True when a case puts a SO_REUSEPORT socket into a map (Node 20 cannot create one; see reuseport.test.ts). */
export function usesReuseport(c: CorpusCase): boolean {
  const values = Object.values(c.maps ?? {}).flatMap((m) => Object.values(m)) as Array<{ reuseport?: boolean } | null>;
  return values.some((v) => typeof v === "object" && v !== null && v.reuseport === true);
}
