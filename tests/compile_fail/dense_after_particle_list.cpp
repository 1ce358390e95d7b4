// Must not compile: Dense needs a flat input, and a particle list (25 x 16) is not one.
#include <deepjet/deepjet.hpp>
using Net = deepjet::Sequential<deepjet::Input<25, 16>, deepjet::Dense<64>, deepjet::ReLU>;
int main() { deepjet::Model<Net> model; }
