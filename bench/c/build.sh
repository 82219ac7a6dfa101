#!/bin/sh
# Rebuilds every C twin of examples/*.ts from its C source. The objects are committed so tests run without clang;
# test/corpus/bench-twins.test.ts checks that this script reproduces them byte for byte.
# -ffile-prefix-map keeps the checkout's absolute path out of DWARF and BTF, so every clone builds identical bytes.
# OUT_DIR (default: this folder) lets the test build into a scratch folder.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-16}
OUT_DIR=${OUT_DIR:-.}
for src in *.c; do
	"$CLANG" -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -ffile-prefix-map="$PWD"=. \
		-c "$src" -o "$OUT_DIR/${src%.c}.o"
done
