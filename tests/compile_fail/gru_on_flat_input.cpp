// Must not compile: a GRU runs over the entries of a list, and a flat block (15) has none.
#include <deepjet/deepjet.hpp>
using Net = deepjet::Sequential<deepjet::Input<15>, deepjet::GRU<50, deepjet::reset_after>, deepjet::Dense<6>>;
int main() { deepjet::Model<Net> model; }
