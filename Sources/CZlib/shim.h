// The system zlib (Debian: zlib1g-dev), for reading gzip'd trace files such as Flent's .flent.gz.
#include <zlib.h>
