#include "format/huffman.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace eie::format {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// The next `width` (1..16) bits of the stream from bit p (p < nbits), bits at or past nbits
// read as 0.
inline uint32_t peek(const uint8_t* data, int64_t nbytes, int64_t nbits, int64_t p, int width) {
  const int64_t byte = p >> 3;
  uint64_t v;
  if (byte + 8 <= nbytes) {
    std::memcpy(&v, data + byte, 8);
#if defined(__GNUC__) || defined(__clang__)
    v = __builtin_bswap64(v);
#else
    uint64_t s = 0;
    for (int k = 0; k < 8; ++k) s = (s << 8) | ((v >> (8 * k)) & 0xFF);
    v = s;
#endif
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

  // Canonical code words, then a table indexed by the next lmax bits: entry = symbol | length<<8
  // (length 0 = no code word starts with these bits). The Kraft check keeps every word's range
  // inside the table.
  std::vector<uint16_t> table(size_t{1} << lmax, 0);
  uint32_t code = 0;
  int prev_len = 0;
  bool first = true;
  for (int L = 1; L <= lmax; ++L) {
    for (int64_t s = 0; s < alphabet; ++s) {
      if (lengths[s] != L) continue;
      if (!first) code = (code + 1) << (L - prev_len);
      first = false;
      prev_len = L;
      const size_t lo = size_t{code} << (lmax - L);
      const size_t n = size_t{1} << (lmax - L);
      const uint16_t entry = static_cast<uint16_t>(s | (L << 8));
      for (size_t k = 0; k < n; ++k) table[lo + k] = entry;
    }
  }

  int64_t p = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (p >= nbits)
      fail("Huffman stream ended after " + std::to_string(i) + " of " + std::to_string(count) +
           " symbols");
    const uint16_t e = table[peek(data, nbytes, nbits, p, lmax)];
    const int L = e >> 8;
    if (L == 0) fail("invalid Huffman code word at bit " + std::to_string(p));
    out[i] = static_cast<uint8_t>(e & 0xFF);
    p += L;
  }
  if (p > nbits) fail("last Huffman code word runs past the end of the stream");
}

}  // namespace eie::format
