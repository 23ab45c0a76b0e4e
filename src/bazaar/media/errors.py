"""Media errors."""

from __future__ import annotations

from bazaar.kernel.errors import Conflict, NotFound, ValidationFailed


class InvalidImage(ValidationFailed):
    """The file is not a JPEG, PNG or WebP image that can be decoded."""

    code = "invalid_image"


class ImageTooLarge(ValidationFailed):
    """The image is too large (at most 10 MB and 40 megapixels)."""

    code = "image_too_large"


class TooManyImages(Conflict):
    """A product has at most 12 images; delete one first."""

    code = "too_many_images"


class ImageNotFound(NotFound):
    """No such image on this product."""

    code = "image_not_found"
