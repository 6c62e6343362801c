/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The libFuzzer entry point each tests/fuzz/fuzz-<target>.c defines. It
 * borrows data, must not print, and returns 0 (libFuzzer reserves other
 * values). The same objects link either with -fsanitize=fuzzer (the fuzzing
 * build) or with fuzz-replay.c, which runs a corpus under make check.
 */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
