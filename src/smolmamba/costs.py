"""Energy per operation (Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm): a 32-bit float
multiply-accumulate (MAC) and a 32-bit float add (AC, accumulate). Torch-free, so that the CLI's
defaults and help read them without importing torch; smolmamba.energy uses them.
"""

E_MAC_PJ = 4.6
E_AC_PJ = 0.9
