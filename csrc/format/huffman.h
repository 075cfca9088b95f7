// Table-driven decoding of one canonical Huffman stream (eie.formats.huffman's bitstreams).
//
// A stream is MSB-first: the first code word starts at the top bit of data[0]. The code is given
// by one length per symbol (0 = unused); code words are canonical (sorted by length, then by
// symbol, each the previous + 1, shifted left when the length grows), so the lengths define it.
// Bits past `nbits` read as zeros, as in the reference decoder (HuffmanCode.decode).
#pragma once
#include <cstdint>

namespace eie::format {

constexpr int kHuffmanMaxCodeLength = 16;  // eie.formats.huffman.MAX_CODE_LENGTH
constexpr int64_t kHuffmanMaxAlphabet = 256;  // symbols are uint8 (widths 1..8 bits)

// Checks a code before use: 1 <= alphabet <= 256, every length in 0..16, at least one used
// symbol, Kraft sum <= 1 (a prefix code). Returns the longest length. Throws
// std::invalid_argument naming the first problem.
int check_huffman_lengths(const uint8_t* lengths, int64_t alphabet);

// Decodes `count` symbols from the first `nbits` bits of data[0:nbytes] into out[0:count].
// Everything is checked before `out` is written: the code (check_huffman_lengths),
// 0 <= nbits <= 8 * nbytes, 0 <= count <= nbits (every code word takes at least one bit; so the
// caller's output of `count` bytes is bounded by the stream's size). Then a first-level table of
// at most 2**11 entries (4 KiB; longer words by their canonical ranges) and one lookup per
// symbol; throws std::invalid_argument on a bit pattern that is no code word, a stream that
// ends before `count` symbols, or a last code word running past `nbits`. Reads nothing outside
// data[0:nbytes].
void huffman_decode(const uint8_t* data, int64_t nbytes, int64_t nbits, const uint8_t* lengths,
                    int64_t alphabet, int64_t count, uint8_t* out);

}  // namespace eie::format
