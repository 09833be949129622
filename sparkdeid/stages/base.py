"""DeidStage: the one base of the sparkdeid stages (defaults, error column, ``handleInvalid``).

Defaults are written once: in the stage's ``@keyword_only`` constructor
signature, the place users, IDEs and ``help()`` read. The base reads that
signature when the class is defined and sets every default from it with
``_setDefault``, so there is no second list (in a ``_XParams.__init__``) or
third (in ``setParams``) to keep in step. It also refuses, on import, a
stage whose constructor leaves out one of its Params or names one it does
not have: the loader calls the class with no arguments, so every Param must
get its default there.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from pyspark.ml import Transformer
from pyspark.ml.param import Param
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql.types import StructField, StructType

from sparkdeid.stages.params import HasErrorCol
from sparkdeid.stages.rows import RowJob, RowSettings

S = TypeVar("S", bound="DeidStage")


class DeidStage(Transformer, HasErrorCol, DefaultParamsReadable, DefaultParamsWritable):
    """Base of every sparkdeid stage: its defaults, its error column and ``handleInvalid``.

    A subclass declares its Params on a ``_XParams`` mixin (doc string and
    converter, no defaults) and writes a ``@keyword_only`` constructor whose
    every argument is a keyword with its default and whose body is
    ``super().__init__()``. ``setParams`` takes the same keywords.

    ``handleInvalid`` means the same in every stage. Values are checked by the
    Param's converter: in the constructor, the setter and when a saved
    pipeline is loaded.

    - ``keep`` (default): a failed row stays, its outputs null and a PHI-free
      message in ``errorCol``; later stages carry the message and skip the row.
    - ``error``: the first failure raises :class:`~sparkdeid.stages.rows.FileStageError`
      at once, in whatever stage it happens.
    - ``skip``: a failed *file* is dropped where a row is a whole file: the
      per-file stages (DicomToMetadata, DicomMetadataDeidentifier,
      DicomDocumentCleaner, ResidualPhiGate, NerDeid on tag documents), and
      DicomDrawRegions once it has grouped a file's frames. Per-frame stages
      (DicomToImage's frame rows, TextDetector, NerDeid on OCR text,
      PositionFinder) never drop a frame row: a failed frame stays, as under
      ``keep``, so its file is still whole when DicomDrawRegions drops it;
      dropping the frame alone would let a half-scanned file be rebuilt.
    """

    _input_kwargs: dict[str, Any]
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._defaults = constructor_defaults(cls)

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(**self._defaults)
        self._set_given(getattr(self, "_input_kwargs", {}))

    def setParams(self: S, **params: Any) -> S:
        """Set any of the constructor's keywords at once (``None`` leaves a param as it is)."""
        unknown = sorted(set(params) - self._defaults.keys())
        if unknown:
            raise TypeError(f"{type(self).__name__} has no param {', '.join(unknown)}")
        return self._set_given(params)

    def _set_given(self: S, params: dict[str, Any]) -> S:
        # None is every list keyword's old default: it means "the param's default"
        return self._set(**{name: value for name, value in params.items() if value is not None})

    def _row_job(
        self,
        input_schema: StructType,
        input_col: str,
        new_fields: list[StructField],
        *,
        keep_input: bool,
        whole_files: bool,
        path_col: str = "",
        extra_cols: Iterable[str] = (),
        max_bytes: int = 0,
        label: str = "",
    ) -> RowJob:
        """The row loop's settings and the output schema, read on the driver.

        ``whole_files`` says whether each row is a whole file (see the class
        docstring: only then does ``skip`` drop a failed row).
        """
        settings = RowSettings(
            input_col=input_col,
            path_col=path_col,
            error_col=self.getErrorCol(),
            handle_invalid=self.getHandleInvalid(),
            keep_input=keep_input,
            extra_cols=tuple(c for c in extra_cols if c),
            max_bytes=max_bytes,
            whole_files=whole_files,
            label=label,
        )
        return RowJob.plan(input_schema, settings, new_fields)


def constructor_defaults(cls: type) -> dict[str, Any]:
    """Every Param's default, read from the constructor signature of stage ``cls``.

    Raises ``TypeError`` unless each constructor argument is keyword-only,
    has a default and names a Param of the stage, and each Param has one.
    """
    parameters = inspect.signature(cls).parameters.values()  # the constructor's, without self
    defaults: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.kind is not parameter.KEYWORD_ONLY or parameter.default is parameter.empty:
            raise TypeError(
                f"{cls.__name__}: constructor argument {parameter.name} must be keyword-only "
                "with a default (the loader calls the class with none)"
            )
        defaults[parameter.name] = parameter.default
    declared = {name for name in dir(cls) if isinstance(getattr(cls, name, None), Param)}
    missing, unknown = declared - defaults.keys(), defaults.keys() - declared
    if missing or unknown:
        raise TypeError(
            f"{cls.__name__}: constructor keywords and Params differ: without a keyword "
            f"{sorted(missing)}, without a Param {sorted(unknown)}"
        )
    return defaults
