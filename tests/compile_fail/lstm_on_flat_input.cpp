// Must not compile: an LSTM runs over the entries of a list, and a flat block (15) has none.
#include <deepjet/deepjet.hpp>
using Net = deepjet::Sequential<deepjet::Input<15>, deepjet::LSTM<50, deepjet::backwards>, deepjet::Dense<6>>;
int main() { deepjet::Model<Net> model; }
