"""Lemma 1 and Prop. 2 as written (constants 1/2 and 1) for res-2 and res-3 blocks.

The claim, its check and its sizes are in the package: src/reslimit/claims/lemma1_blocks.py and the table CLAIMS of
src/reslimit/claims/__init__.py. Usage: python validation/lemma1_blocks.py [--quick|--full] [--out DIR].
"""

import sys

from reslimit.claims import main

if __name__ == "__main__":
    sys.exit(main(name="lemma1_blocks"))
