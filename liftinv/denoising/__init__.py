"""Denoising: the denoisers (DFB-PNN, deepinv's DnCNN), TV and BM3D references, and the
``liftinv train`` / ``liftinv denoise`` commands.  Training, scoring and reports come from
:mod:`liftinv.restoration`; the benchmark is ``liftinv bench denoise`` (:mod:`liftinv.bench`)."""
