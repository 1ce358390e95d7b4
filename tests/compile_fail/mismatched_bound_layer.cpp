// Must not compile: a layer written with its input size (5) after an output of size 4.
#include <deepjet/deepjet.hpp>
using Net = deepjet::Sequential<deepjet::Input<4>, deepjet::DenseLayer<5, 2>>;
int main() { deepjet::Model<Net> model; }
