"""Compiled extensions only; all metadata lives in pyproject.toml."""

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

CYTHON_DIRECTIVES = {"language_level": "3", "boundscheck": False, "wraparound": False, "cdivision": True}

cython_extensions = [
    Extension(
        "splade_core.sparse._quantize",
        ["csrc/cython/quantize.pyx"],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    ),
]

setup(ext_modules=cythonize(cython_extensions, compiler_directives=CYTHON_DIRECTIVES))
