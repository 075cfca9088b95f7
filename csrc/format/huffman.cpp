#include "format/huffman.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace eie::format {
namespace {

constexpr int kFastBits = 11;

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// Eight bytes as a big-endian integer: the first stream bit is the top bit.
inline uint64_t load_be64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_bswap64(v);
#else
  uint64_t s = 0;
  for (int k = 0; k < 8; ++k) s = (s << 8) | ((v >> (8 * k)) & 0xFF);
  return s;
#endif
}

// The next `width` (1..16) bits of the stream from bit p (p < nbits), bits at or past nbits
// read as 0.
inline uint32_t peek(const uint8_t* data, int64_t nbytes, int64_t nbits, int64_t p, int width) {
  const int64_t byte = p >> 3;
  uint64_t v;
  if (byte + 8 <= nbytes) {
    v = load_be64(data + byte);
  } else {  // the stream's last bytes: assemble what is there, zeros past the end
    v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | (byte + k < nbytes ? data[byte + k] : 0u);
  }
  // 64 - (p & 7) >= 57 valid bits from p: enough for 16.
  uint32_t w = static_cast<uint32_t>((v << (p & 7)) >> (64 - width));
  const int64_t valid = nbits - p;
  if (valid < width) w &= ~((1u << (width - valid)) - 1u);
  return w;
}

}  // namespace

int check_huffman_lengths(const uint8_t* lengths, int64_t alphabet) {
  if (alphabet < 1 || alphabet > kHuffmanMaxAlphabet)
    fail("a Huffman code should have 1.." + std::to_string(kHuffmanMaxAlphabet) +
         " symbols, found " + std::to_string(alphabet));
  int lmax = 0;
  uint64_t kraft = 0;  // sum of 2**(16 - L): at most 256 * 2**15, no overflow
  for (int64_t s = 0; s < alphabet; ++s) {
    const int L = lengths[s];
    if (L > kHuffmanMaxCodeLength)
      fail("Huffman code length of symbol " + std::to_string(s) + " should be 0.." +
           std::to_string(kHuffmanMaxCodeLength) + ", found " + std::to_string(L));
    if (L == 0) continue;
    kraft += uint64_t{1} << (kHuffmanMaxCodeLength - L);
    if (L > lmax) lmax = L;
  }
  if (lmax == 0) fail("cannot decode with an empty Huffman code (every length is 0)");
  if (kraft > (uint64_t{1} << kHuffmanMaxCodeLength))
    fail("Huffman code lengths do not form a prefix code (Kraft sum " +
         std::to_string(static_cast<double>(kraft) / 65536.0) + " > 1)");
  return lmax;
}

void huffman_decode(const uint8_t* data, int64_t nbytes, int64_t nbits, const uint8_t* lengths,
                    int64_t alphabet, int64_t count, uint8_t* out) {
  const int lmax = check_huffman_lengths(lengths, alphabet);
  if (nbytes < 0 || nbits < 0 || nbits / 8 > nbytes || (nbits / 8 == nbytes && nbits % 8))
    fail("stream has " + std::to_string(nbytes) + " bytes, header says " +
         std::to_string(nbits) + " bits");
  if (count < 0 || count > nbits)
    fail(std::to_string(count) + " values cannot fit in " + std::to_string(nbits) +
         " Huffman bits");
  if (count == 0) return;

  // Canonical code words: per length L, `count[L]` consecutive words from `first[L]`, whose
  // symbols are sorted[offset[L] ...]. A first-level table indexed by the next `fast_bits` bits
  // (2**11 entries, 4 KiB: stays in L1) resolves every word of up to fast_bits bits: entry =
  // symbol | length << 8, length 0 = a longer word (or none) starts there, found by comparing
  // the window with each longer length's range. The Kraft check keeps every range in bounds.
  const int fast_bits = lmax < kFastBits ? lmax : kFastBits;
  std::vector<uint16_t> fast(size_t{1} << fast_bits, 0);
  uint32_t first[kHuffmanMaxCodeLength + 1] = {};
  uint32_t count_of[kHuffmanMaxCodeLength + 1] = {};
  uint32_t offset[kHuffmanMaxCodeLength + 1] = {};
  uint8_t sorted[kHuffmanMaxAlphabet];
  uint32_t code = 0, n_sorted = 0;
  int prev_len = 0;
  for (int L = 1; L <= lmax; ++L) {
    offset[L] = n_sorted;
    for (int64_t s = 0; s < alphabet; ++s) {
      if (lengths[s] != L) continue;
      if (n_sorted) code = (code + 1) << (L - prev_len);
      prev_len = L;
      if (count_of[L]++ == 0) first[L] = code;
      sorted[n_sorted++] = static_cast<uint8_t>(s);
      if (L <= fast_bits) {
        const size_t lo = size_t{code} << (fast_bits - L);
        const size_t n = size_t{1} << (fast_bits - L);
        const uint16_t entry = static_cast<uint16_t>(s | (L << 8));
        for (size_t k = 0; k < n; ++k) fast[lo + k] = entry;
      }
    }
  }

  // Longest-word search for a window of lmax bits whose first-level entry is empty: the length
  // of the word it starts with, or 0 if none.
  auto long_word = [&](uint32_t w) -> int {
    for (int L = fast_bits + 1; L <= lmax; ++L)
      if ((w >> (lmax - L)) - first[L] < count_of[L]) return L;  // unsigned: below first wraps
    return 0;
  };

  // Main loop: a 64-bit buffer (its top `avail` bits are the stream from bit p), refilled with
  // eight bytes at a time while whole bytes below nbits remain, so no bit past nbits is read and
  // every window is real stream bits.
  const int64_t whole_bytes = nbits / 8;
  uint64_t buf = 0;
  int avail = 0;
  int64_t next = 0;  // next byte to load
  int64_t i = 0;
  while (i < count && next + 8 <= whole_bytes) {
    const uint64_t v = load_be64(data + next);
    buf |= v >> avail;
    const int take = (63 - avail) >> 3;  // whole bytes that fit: avail becomes 56..63
    next += take;
    avail += take * 8;
    while (avail >= lmax && i < count) {
      const uint32_t w = static_cast<uint32_t>(buf >> (64 - lmax));
      const uint16_t e = fast[w >> (lmax - fast_bits)];
      int L = e >> 8;
      if (L) {
        out[i] = static_cast<uint8_t>(e & 0xFF);
      } else {
        L = long_word(w);
        if (!L) fail("invalid Huffman code word at bit " + std::to_string(next * 8 - avail));
        out[i] = sorted[offset[L] + (w >> (lmax - L)) - first[L]];
      }
      buf <<= L;
      avail -= L;
      ++i;
    }
  }

  // The stream's last bytes, one window at a time (bits past nbits read as zeros).
  int64_t p = next * 8 - avail;
  for (; i < count; ++i) {
    if (p >= nbits)
      fail("Huffman stream ended after " + std::to_string(i) + " of " + std::to_string(count) +
           " symbols");
    const uint32_t w = peek(data, nbytes, nbits, p, lmax);
    const uint16_t e = fast[w >> (lmax - fast_bits)];
    int L = e >> 8;
    if (L) {
      out[i] = static_cast<uint8_t>(e & 0xFF);
    } else {
      L = long_word(w);
      if (!L) fail("invalid Huffman code word at bit " + std::to_string(p));
      out[i] = sorted[offset[L] + (w >> (lmax - L)) - first[L]];
    }
    p += L;
  }
  if (p > nbits) fail("last Huffman code word runs past the end of the stream");
}

}  // namespace eie::format
