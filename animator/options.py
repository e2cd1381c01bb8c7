"""typer options shared by several commands (one definition, one help text)."""
import typer

IMAGE_ARG = typer.Argument(..., help="Start picture: an image file, 'noise', or 'solid:#RRGGBB'.")
MODEL = typer.Option(None, help="Backbone (see 'dreamreel models'). Default: efficientnet_lite0.")
WEIGHTS = typer.Option(None, help="Weights file for the model.")
LAYERS = typer.Option(None, help="Layers to dream: 'block9', 'block6:0.5,block9', 'block3..block5'.")
CHANNELS = typer.Option(None, help="Channels of the (one) layer: '12' or '12,40'.")
CLASS = typer.Option(None, "--class", help="ImageNet class to dream: name or index.")
GUIDE = typer.Option(None, help="Guide image: its features at the layer(s) steer the dream.")
SIMILARITY = typer.Option("dot", help="Guide similarity: dot, l1 or l2.")
PIXEL_WEIGHT = typer.Option(0.0, help="Keep the start picture's mean colours (weight; 0 = off).")
JITTER = typer.Option(32, help="Random roll in pixels.")
SMOOTH = typer.Option(1.0, help="Gaussian smoothing of the gradient (sigma, px; 0 = off).")
SEED = typer.Option(0, help="Random seed.")
DEVICE = typer.Option("auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps.")
RESUME = typer.Option(False, help="Continue a stopped render from its frames on disk.")
EVERY_GIF = typer.Option(1, help="One GIF frame every N frames.")
GIF_WIDTH = typer.Option(None, help="Scale the GIF to this width (GIFs of every frame at full size get big).")
