"""Neural style transfer (Gatys et al. 2016): match a content picture's features and the Gram
matrices of one or more style pictures by optimising the pixels. Tensors in, tensors out::

    from dreamreel.engine import get_backbone
    from dreamreel.engine.style import StyleParams, stylize
    net = get_backbone("vgg16_caffe", weights="vgg16_caffe_features.pth")
    out = stylize(net, content, [starry], params=StyleParams(iters=300))

Images are RGB in [0, 1], shape (1, 3, H, W); style pictures may have any size (:func:`style_size`).
What is matched is a :class:`StyleRecipe`; :func:`recipe_for` picks a backbone's:

* VGG ("vgg-classic"): content at ``relu4_2``, style at ``relu1_1`` ... ``relu5_1`` with equal
  weights, Gram / (C*H*W), mean squared errors.
* EfficientNet-Lite0 ("lite0-painterly"): ten post-ReLU6 taps inside the blocks (/2 to /16) and
  seven ``pixelN`` maps of a fixed filter bank on the picture itself (:func:`pixel_bands`);
  centred Grams plus channel means and one-pixel-shifted cross-Grams, each layer's loss divided
  by its target's energy; the picture reflect-padded by 16 px; content at ``block2.dw`` and
  ``block5.expand``. Measured figures: README, "Style transfer".
* other backbones: five taps, centred, energy-normalised Grams (untuned).

``content_weight`` and ``style_weight`` default to 1: each recipe's gains make 1 : 1 its
balanced result, so their ratio means the same on every backbone. :class:`StyleTransfer` is the
stateful form (targets computed once, optimiser memory kept) for runs a few iterations at a time;
:func:`style_targets` computes the style half once for many pictures (a clip's frames), and a
:class:`Temporal` term pulls a video frame toward the previous one.

Modules: ``recipes`` (params, recipes), ``stats`` (Grams), ``taps`` (padded taps, pixel filter
bank), ``transfer`` (targets, losses, the optimiser driver, the temporal term, the judge).
"""
from ..colorspace import (COLOR_SPACES, keep_colors, lab_to_rgb, luminance_image, rgb_to_lab, rgb_to_ycbcr,
                          ycbcr_to_rgb)
from .recipes import (INITS, LITE0_PAINTERLY, OPTIMIZERS, RECIPES, VGG_CLASSIC, StyleParams, StyleRecipe,
                      recipe_for, style_size)
from .stats import gram, style_stats, tv_loss
from .taps import PIXEL, check_taps, padded_taps, pixel_bands
from .transfer import (RANGE_GAIN, ContentTargets, Progress, StyleTargets, StyleTransfer, Temporal, blend_weights,
                       content_targets, judge, losses, losses_of, style_targets, stylize, temporal_loss)

__all__ = [
    "COLOR_SPACES", "keep_colors", "lab_to_rgb", "luminance_image", "rgb_to_lab", "rgb_to_ycbcr", "ycbcr_to_rgb",
    "INITS", "LITE0_PAINTERLY", "OPTIMIZERS", "RECIPES", "VGG_CLASSIC", "StyleParams", "StyleRecipe", "recipe_for",
    "style_size", "gram", "style_stats", "tv_loss", "PIXEL", "check_taps", "padded_taps", "pixel_bands",
    "RANGE_GAIN", "ContentTargets", "Progress", "StyleTargets", "StyleTransfer", "Temporal", "blend_weights",
    "content_targets", "judge", "losses", "losses_of", "style_targets", "stylize", "temporal_loss",
]
