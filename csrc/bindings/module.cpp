#include "bindings/bindings.h"

NB_MODULE(_core, m) {
  m.doc() = "eie's compiled core: format routines, CPU kernels and the simulator's inner loop";
  eie::bindings::register_common(m);
  eie::bindings::register_format(m);
  eie::bindings::register_encode(m);
  eie::bindings::register_engine(m);
  eie::bindings::register_sim(m);
  eie::bindings::register_llm(m);
}
