// Scalar block kernels: the plain reference the SIMD builds are tested against, always available.
// Products are rounded before the add (no FMA), exactly as `acc += w * x` in the spec.
#include "engine/layout.h"
#include "engine/rows_kernel.h"

namespace eie::engine {
namespace {

void sparse1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  float* acc = t.acc;
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float xv = t.xt[c];
    float s[kCodebookSize];  // codebook scaled by this column's activation
    for (int i = 0; i < kCodebookSize; ++i) s[i] = L.codebook[i] * xv;
    for (uint32_t e = ptr[c], end = ptr[c + 1]; e < end; ++e) {
      const uint16_t u = ent[e];
      acc[u & 0xfff] += s[u >> 12];
    }
  }
}

void sparse_batch(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const int64_t B = t.batch;
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float* xc = t.xt + c * B;
    for (uint32_t e = ptr[c], end = ptr[c + 1]; e < end; ++e) {
      const uint16_t u = ent[e];
      const float w = L.codebook[u >> 12];
      float* a = t.acc + static_cast<int64_t>(u & 0xfff) * t.acc_stride;
      for (int64_t b = 0; b < B; ++b) a[b] += w * xc[b];
    }
  }
}

void dense1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t half = Layout::padded(L.block_rows(t.block)) / 2;
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float xv = t.xt[c];
    float s[kCodebookSize];
    for (int i = 0; i < kCodebookSize; ++i) s[i] = L.codebook[i] * xv;
    s[0] = 0.0f;  // a zero weight contributes nothing, even for an infinite activation
    const uint8_t* col = codes + c * half;
    for (int64_t g = 0; g < half; g += 16) {
      float* a = t.acc + 2 * g;
      for (int i = 0; i < 16; ++i) {
        const uint8_t byte = col[g + i];
        a[i] += s[byte & 15];
        a[16 + i] += s[byte >> 4];
      }
    }
  }
}

void dense_batch(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t Rp = Layout::padded(L.block_rows(t.block));
  const int64_t half = Rp / 2, B = t.batch;
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float* xc = t.xt + c * B;
    const uint8_t* col = codes + c * half;
    for (int64_t g = 0; g < half; g += 16) {
      for (int i = 0; i < 16; ++i) {
        const uint8_t byte = col[g + i];
        const uint8_t lo = byte & 15, hi = byte >> 4;
        const float w0 = L.codebook[lo], w1 = L.codebook[hi];
        for (int64_t b = 0; b < B; ++b) {
          float* a = t.acc + b * t.acc_stride + 2 * g;
          if (lo) a[i] += w0 * xc[b];
          if (hi) a[16 + i] += w1 * xc[b];
        }
      }
    }
  }
}

// 8-bit codes: the codebook is looked up per entry (w * x rounded before the add, as above).
void sparse8_1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const uint8_t* code = L.codes8.data() + L.entry_base[t.block];
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float xv = t.xt[c];
    for (uint32_t e = ptr[c], end = ptr[c + 1]; e < end; ++e)
      t.acc[ent[e] & 0xfff] += L.codebook[code[e]] * xv;
  }
}

void sparse8_batch(const BlockTask& t) {
  const Layout& L = *t.layout;
  const uint32_t* ptr = L.col_ptr.data() + t.block * (L.cols + 1);
  const uint16_t* ent = L.entries.data() + L.entry_base[t.block];
  const uint8_t* code = L.codes8.data() + L.entry_base[t.block];
  const int64_t B = t.batch;
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float* xc = t.xt + c * B;
    for (uint32_t e = ptr[c], end = ptr[c + 1]; e < end; ++e) {
      const float w = L.codebook[code[e]];
      float* a = t.acc + static_cast<int64_t>(ent[e] & 0xfff) * t.acc_stride;
      for (int64_t b = 0; b < B; ++b) a[b] += w * xc[b];
    }
  }
}

void dense8_1(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t Rp = Layout::padded(L.block_rows(t.block));
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float xv = t.xt[c];
    const uint8_t* col = codes + c * Rp;
    for (int64_t r = 0; r < Rp; ++r)
      if (col[r] != 0) t.acc[r] += L.codebook[col[r]] * xv;  // code 0: nothing, even for inf x
  }
}

void dense8_batch(const BlockTask& t) {
  const Layout& L = *t.layout;
  const int64_t Rp = Layout::padded(L.block_rows(t.block)), B = t.batch;
  const uint8_t* codes = L.codes.data() + L.code_base[t.block];
  for (int64_t k = 0; k < t.nact; ++k) {
    const uint32_t c = t.act[k];
    const float* xc = t.xt + c * B;
    const uint8_t* col = codes + c * Rp;
    for (int64_t r = 0; r < Rp; ++r) {
      if (col[r] == 0) continue;
      const float w = L.codebook[col[r]];
      for (int64_t b = 0; b < B; ++b) t.acc[b * t.acc_stride + r] += w * xc[b];
    }
  }
}

// Rowwise: per row, columns in the layout's order (chunk, code slot j, word i), products
// rounded before the add.
void rowwise(const Layout& L, int64_t r_begin, int64_t r_end, const float* xp, int64_t batch,
             float* acc) {
  const int64_t pc = L.padded_cols();
  for (int64_t r = r_begin; r < r_end; ++r) {
    const float* cb = L.row_codebook(r);
    const uint8_t* p = L.codes.data() + r * L.row_stride;
    for (int64_t b = 0; b < batch; ++b) {
      const float* x = xp + b * pc;
      float a = 0.0f;
      for (int64_t t = 0; t < pc / 128; ++t)
        for (int j = 0; j < 8; ++j)
          for (int i = 0; i < 16; ++i) {
            const uint8_t byte = p[t * 64 + 4 * i + j / 2];
            a += cb[(byte >> (4 * (j % 2))) & 15] * x[t * 128 + 16 * j + i];
          }
      acc[b * L.rows + r] = a;
    }
  }
}

// Row view, batch 2..16 (layout.h): per row and panel, entry by entry, every lane.
void rows_batch(const Layout& L, int64_t r_begin, int64_t r_end, const float* xt, int64_t stride,
                float* acc) {
  for (int64_t r = r_begin; r < r_end; ++r)
    for (int64_t b = 0; b < stride; ++b) acc[r * stride + b] = 0.0f;
  for (int64_t p = 0; p < L.row_panels; ++p) {
    const float* xp = xt + p * kRowPanelCols * stride;
    const uint32_t* ptr = L.row_ptr.data() + p * L.rows;
    for (int64_t r = r_begin; r < r_end; ++r) {
      float* a = acc + r * stride;
      for (uint32_t e = ptr[r]; e < ptr[r + 1]; ++e) {
        const uint16_t u = L.row_entries[e];
        const float w = L.codebook[u >> 12];
        const float* x = xp + static_cast<int64_t>(u & 0xfff) * stride;
        for (int64_t b = 0; b < stride; ++b) a[b] += w * x[b];
      }
    }
  }
}

}  // namespace

KernelSet kernels_scalar() {
  return {sparse1, sparse_batch, dense1, dense_batch,
          sparse8_1, sparse8_batch, dense8_1, dense8_batch, rows1_impl, rowwise, rows_batch};
}

}  // namespace eie::engine
