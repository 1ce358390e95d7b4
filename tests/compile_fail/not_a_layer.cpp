// Must not compile: `int` is neither a layer spec nor a layer.
#include <deepjet/deepjet.hpp>
using Net = deepjet::Sequential<deepjet::Input<4>, deepjet::Dense<8>, int>;
int main() { deepjet::Model<Net> model; }
