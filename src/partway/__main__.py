import gc
import sys

# No collections during the imports: they only add objects that live as long as the process,
# and walking them again and again cost `partway upload` ~5-10 ms of its start. main() turns
# the collector back on once the command line is parsed.
gc.disable()

from .cli import main  # noqa: E402

sys.exit(main())
