"""Pure array functions between a read image and a model input."""

from januscxr.preprocess.array import resize_square, standardize, to_model_input

__all__ = ["resize_square", "standardize", "to_model_input"]
