"""Compiled extensions only; all metadata lives in pyproject.toml."""

import os
from glob import glob

import numpy
from Cython.Build import cythonize
from pybind11.setup_helpers import Pybind11Extension
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
    Extension(
        "splade_core.sparse._prune",
        ["csrc/cython/prune.pyx"],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    ),
]

# The C++ inverted index; SPLADE_NATIVE=1 opts in to -march=native (off by default: portable wheels).
pybind11_extensions = [
    Pybind11Extension(
        "splade_core.index._index",
        sorted(glob("csrc/src/*.cpp")) + ["csrc/bindings/module.cpp"],
        include_dirs=["csrc/include"],
        cxx_std=17,
        extra_compile_args=["-O3"] + (["-march=native"] if os.environ.get("SPLADE_NATIVE") == "1" else []),
    ),
]

setup(ext_modules=cythonize(cython_extensions, compiler_directives=CYTHON_DIRECTIVES) + pybind11_extensions)
