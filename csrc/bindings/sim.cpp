#include "bindings/bindings.h"

namespace eie::bindings {

void register_sim(nb::module_& m) { (void)m; }

}  // namespace eie::bindings
