"""scarce: few labels, strong classifiers. Transfer learning for images and text, with
honest evaluation and deployable bundles.

    import scarce
    model = scarce.fit("data/defects", method="linear-probe", seed=0)
    model.predict(["new/1.jpg"]); model.save("defects.scarce")
    model = scarce.load("defects.scarce")
"""

__version__ = "0.1.0"

from scarce.api import Model, TransferClassifier, evaluate, fit, load

__all__ = ["Model", "TransferClassifier", "__version__", "evaluate", "fit", "load"]
