#include "common/cpu_features.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define EIE_X86 1
#endif

namespace eie {
namespace {

#ifdef EIE_X86
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef EIE_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27);
  const bool fma = c & (1u << 12);
  const bool f16c = c & (1u << 29);
  const bool avx = c & (1u << 28);
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xE6) == 0xE6;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5);
  const bool bmi1 = b & (1u << 3);
  const bool bmi2 = b & (1u << 8);
  const bool avx512f = b & (1u << 16);
  const bool avx512dq = b & (1u << 17);
  const bool avx512bw = b & (1u << 30);
  const bool avx512vl = b & (1u << 31);
  const bool avx512vbmi = c & (1u << 1);
  const bool avx512vnni = c & (1u << 11);
  const bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24);
  f.avx2 = ymm_state && avx2 && fma && f16c && bmi1 && bmi2;
  f.avx512 = f.avx2 && zmm_state && avx512f && avx512dq && avx512bw && avx512vl && avx512vbmi;
  f.avx512_vnni = f.avx512 && avx512vnni;
  // AMX: tile instructions and the OS saving tile state (XCR0 bits 17, 18); the process must
  // still ask for the tile data state (arch_prctl) before using it (kernels_amx.cpp).
  f.amx_bf16 = f.avx512 && amx_bf16 && amx_tile && (xcr0 & 0x60000) == 0x60000;
  __cpuid_count(7, 1, a, b, c, d);
  f.avx512_bf16 = f.avx512 && (a & (1u << 5));
#endif
  return f;
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{-1};
  return slot;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

Isa best_isa() {
  const auto& f = cpu_features();
  if (f.avx512) return Isa::avx512;
  if (f.avx2) return Isa::avx2;
  return Isa::scalar;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "unknown";
}

Isa parse_isa(const std::string& name) {
  if (name == "scalar") return Isa::scalar;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument("unknown ISA '" + name + "': expected one of scalar, avx2, avx512");
}

void set_active_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(best_isa()))
    throw std::invalid_argument(std::string("this CPU does not support ISA '") + isa_name(isa) +
                                "'; the best it supports is '" + isa_name(best_isa()) + "'");
  active_slot().store(static_cast<int>(isa));
}

Isa active_isa() {
  const int v = active_slot().load(std::memory_order_relaxed);
  if (v >= 0) return static_cast<Isa>(v);
  // First read: the CPU's best, lowered by EIE_ISA (an unknown value is ignored here; the
  // package's resolution refuses it loudly and adds the AVX-512 self-test's verdict).
  Isa isa = best_isa();
  if (const char* env = std::getenv("EIE_ISA")) {
    try {
      const Isa want = parse_isa(env);
      if (static_cast<int>(want) < static_cast<int>(isa)) isa = want;
    } catch (const std::invalid_argument&) {
    }
  }
  int expected = -1;
  active_slot().compare_exchange_strong(expected, static_cast<int>(isa));
  return static_cast<Isa>(active_slot().load(std::memory_order_relaxed));
}

}  // namespace eie
