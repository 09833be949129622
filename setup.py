"""Packaging for sparkdeid: DICOM de-identification as Spark ML stages."""

from setuptools import find_packages, setup

RUNTIME = [
    "pyspark>=4.0",
    "pydicom>=3.0",
    "numpy>=1.24",
    "pandas>=2.0,<3",  # pyspark 4.x does not support pandas 3 yet
    "pyarrow>=14",
    "pylibjpeg>=2.0",
    "pylibjpeg-libjpeg>=2.1",
    "pylibjpeg-openjpeg>=2.3",
    "pylibjpeg-rle>=2.0",
    "pyjpegls>=1.2",
    "imagecodecs>=2024.1",  # re-encodes JPEG Lossless and 12-bit JPEG Extended frames
    "boto3>=1.28",
    "pillow>=10",  # text rendering for OCR input, JPEG baseline re-encoding
    # Default OCR: PP-OCR detection + recognition models ship inside the wheel (no download)
    "rapidocr>=3,<4",
    "onnxruntime>=1.17",
    "names>=0.3",  # US Census 1990 first/last name frequency lists, for the name recognizer
    "pypdfium2>=4.30",  # PDFium: text layer with character boxes, page rendering
    "defusedxml>=0.7",  # CDA documents are parsed without entity expansion
]

EXTRAS = {
    "tesseract": ["pytesseract>=0.3.10"],  # plus Debian's tesseract-ocr binary
    "spacy": ["spacy>=3.7"],  # plus a pipeline package installed from a local wheel
    # The peers benchmarks/compare.py runs beside sparkdeid (not needed at run time);
    # Presidio also needs Debian's tesseract-ocr.
    "bench": [
        "presidio-image-redactor==0.0.62",
        "presidio-analyzer==2.2.366",
        "spacy==3.8.18",
        "pytesseract==0.3.13",
        "dicognito==0.19.0",
        "deid==0.4.13",
    ],
    "test": [
        "pytest>=8",
        "hypothesis>=6.100",
        "moto[server]>=5",
        "pydicom-data>=1.0",
        "deid-data>=0.0.20",  # ultrasound files with burned-in fake PHI
        # realistic synthetic names for the PHI factories; pinned: a seeded Faker draws
        # other names in another version, and the test corpora must not drift
        "faker==40.63.0",
        "fpdf2>=2.7",  # writes the synthetic encapsulated PDFs with a text layer
        "pypdf>=4",  # a second extractor reads the cleaned PDFs' text layer
        "nbclient>=0.10",  # runs the notebooks headless in the test suite
        "nbformat>=5.10",
        "ipykernel>=6.29",
        "ruff>=0.5",
        "mypy>=1.10",
        "import-linter>=2.1",  # make lint: the layer contracts in .importlinter
    ],
}

setup(
    name="sparkdeid",
    version="0.1.0",
    description="De-identify DICOM metadata and pixels at scale as Apache Spark ML stages",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["sparkdeid", "sparkdeid.*"]),
    package_data={"sparkdeid": ["data/*.csv", "data/*.txt", "py.typed"]},
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["sparkdeid=sparkdeid.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
        "License :: OSI Approved :: Apache Software License",
    ],
)
