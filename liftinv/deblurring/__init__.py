"""Deblurring: blur kernels and deepinv's circular blur (:mod:`.physics`, :mod:`.task`), the
unrolled deblurring network (:mod:`.models`), plug-and-play HQS with any trained denoiser
(:mod:`.pnp`), Wiener / TV / Richardson-Lucy references (:mod:`.classical`) and the
``liftinv deblur`` / ``liftinv train-deblur`` commands (:mod:`.cli`).  Training, scoring and
reports come from :mod:`liftinv.restoration`; the benchmark is ``liftinv bench deblur``."""
