#include <nanobind/stl/string.h>

#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
#include "common/cpu_features.h"
#include "engine/tuning.h"

namespace eie::bindings {
namespace {

// The Tuning fields by name (what eie/data/tuning.json holds per ISA).
struct Field {
  const char* name;
  double engine::Tuning::*real;
  int64_t engine::Tuning::*integer;
};
constexpr Field kFields[] = {
    {"inline_work", &engine::Tuning::inline_work, nullptr},
    {"min_split_rows", nullptr, &engine::Tuning::min_split_rows},
    {"row_view_max_rows", nullptr, &engine::Tuning::row_view_max_rows},
    {"row_view_min_act", &engine::Tuning::row_view_min_act, nullptr},
    {"sparse_batch_factor", &engine::Tuning::sparse_batch_factor, nullptr},
    {"sparse_batch_factor_wide", &engine::Tuning::sparse_batch_factor_wide, nullptr},
    {"dense_batch_factor", &engine::Tuning::dense_batch_factor, nullptr},
    {"rowwise_tasks_per_thread", nullptr, &engine::Tuning::rowwise_tasks_per_thread},
    {"split_chunks_per_thread", nullptr, &engine::Tuning::split_chunks_per_thread},
    {"batch_twin_factor", &engine::Tuning::batch_twin_factor, nullptr},
    {"batch_twin_max_density", &engine::Tuning::batch_twin_max_density, nullptr},
};

nb::dict tuning_dict(const std::string& isa) {
  const engine::Tuning& t = engine::tuning(parse_isa(isa));
  nb::dict d;
  for (const Field& f : kFields) {
    if (f.real != nullptr) d[f.name] = t.*f.real;
    else d[f.name] = t.*f.integer;
  }
  return d;
}

void set_tuning(const std::string& isa, const nb::dict& values) {
  const Isa which = parse_isa(isa);
  engine::Tuning t = engine::tuning(which);
  for (auto [key, value] : values) {
    const std::string name = nb::cast<std::string>(key);
    const Field* f = nullptr;
    for (const Field& g : kFields)
      if (name == g.name) f = &g;
    EIE_CHECK(f != nullptr, "unknown tuning constant '" + name + "'");
    if (f->real != nullptr) {
      EIE_CHECK(nb::isinstance<nb::float_>(value) || nb::isinstance<nb::int_>(value),
                "tuning constant '" + name + "' should be a number");
      t.*f->real = nb::cast<double>(value);
    } else {
      EIE_CHECK(nb::isinstance<nb::int_>(value) && !nb::isinstance<nb::bool_>(value),
                "tuning constant '" + name + "' should be an integer");
      t.*f->integer = nb::cast<int64_t>(value);
    }
  }
  engine::set_tuning(which, t);
}

}  // namespace

void invalid_argument(const std::string& msg) { throw std::invalid_argument(msg); }

void register_common(nb::module_& m) {
  m.def("cpu_features", [] {
    const auto& f = cpu_features();
    nb::dict d;
    d["avx2"] = f.avx2;
    d["avx512"] = f.avx512;
    d["avx512_bf16"] = f.avx512_bf16;
    d["avx512_vnni"] = f.avx512_vnni;
    d["amx_bf16"] = f.amx_bf16;
    return d;
  }, "What this CPU supports, as detected by CPUID/XGETBV.");
  m.def("best_isa", [] { return std::string(isa_name(best_isa())); });
  m.def("active_isa", [] { return std::string(isa_name(active_isa())); },
        "The process's ISA (calls that name none run it): best_isa() lowered by EIE_ISA until "
        "eie.engine.isa_check resolves it.");
  m.def("set_active_isa", [](const std::string& name) { set_active_isa(parse_isa(name)); },
        nb::arg("name"),
        "Set the process's ISA ('scalar', 'avx2' or 'avx512'); ValueError if unsupported. "
        "The one setter: eie.engine.isa_check and eie.engine.use_isa call it.");
  m.def("tuning", &tuning_dict, nb::arg("isa"),
        "The engine's tuning constants for `isa` (eie.engine.tuning hands them over).");
  m.def("set_tuning", &set_tuning, nb::arg("isa"), nb::arg("values"),
        "Replace some of `isa`'s tuning constants (by name); ValueError on unknown names or "
        "values out of range. Call at load time, before multiplies.");
}

}  // namespace eie::bindings
