// Run-time ISA detection and selection.
//
// The package is compiled for baseline x86-64; translation units named *_avx2.cpp / *_avx512.cpp
// are compiled with wider ISA flags and may only be entered after `active_isa()` allows it.
// Kernels pick their implementation from a small table indexed by `Isa` (ggml's arch-fallback
// pattern): the scalar entry is always present and is the reference the others are tested against.
#pragma once
#include <string>

namespace eie {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

struct CpuFeatures {
  bool avx2 = false;      // AVX2 + FMA + F16C + BMI1/2 (what our *_avx2.cpp files are built for)
  bool avx512 = false;    // AVX-512 F/BW/VL/DQ/VBMI (what our *_avx512.cpp files are built for)
  bool avx512_bf16 = false;
  bool avx512_vnni = false;
  bool amx_bf16 = false;  // AMX-TILE + AMX-BF16 with OS tile state (permission not yet asked)
};

// What the CPU (and OS, via XGETBV) supports.
const CpuFeatures& cpu_features();
// The best ISA this CPU supports.
Isa best_isa();
// The process's ISA: what calls that name none run. Until set_active_isa(), the one setter:
// best_isa() lowered by EIE_ISA (read once). eie.engine.isa_check resolves the ISA once per
// process (CPU support, EIE_ISA validated, the AVX-512 self-test's verdict) and sets it here;
// eie.engine.use_isa changes it for a block.
Isa active_isa();
// Sets the process's ISA; throws std::invalid_argument if the CPU does not support it.
void set_active_isa(Isa isa);
const char* isa_name(Isa isa);
Isa parse_isa(const std::string& name);  // throws std::invalid_argument on unknown names

}  // namespace eie
