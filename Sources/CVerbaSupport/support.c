// CVerbaSupport is header-only (see include/CVerbaSupport.h); SwiftPM needs one source file per C target.
#include "CVerbaSupport.h"
