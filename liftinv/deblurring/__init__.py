"""Deblurring (issue 4): blur physics, the unrolled deblurring network trained lifted or by
backprop, plug-and-play HQS with trained denoisers, classical deconvolution, benchmark, CLI.

Modules: :mod:`.physics` (kernels, deepinv circular ``Blur``), :mod:`.models`
(:class:`UnrolledDeblurNet`), :mod:`.training` (:func:`train_deblurrer`), :mod:`.pnp`
(:func:`pnp_hqs`), :mod:`.classical` (Wiener, TV, Richardson-Lucy, tuning on training images),
:mod:`.bench` (:func:`run_deblur_benchmark`), :mod:`.cli`. Heavy imports stay in the modules.
"""
