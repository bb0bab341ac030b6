"""Denoising: unrolled DFB-PNN denoisers trained lifted or by backprop, classical references,
evaluation on whole images, the benchmark and its figures."""
