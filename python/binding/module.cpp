// The gpueval._core extension: its exceptions and their translation from the engine's, the
// generic evaluator (evaluator.cpp), and every family's own parts (families.cpp).
#include <string>

#include <nanobind/stl/string.h>

#include "binding.hpp"
#include "gpueval/device.hpp"
#include "gpueval/error.hpp"
#include "gpueval/version.hpp"

namespace gpueval::python {

namespace {

// Python exception types, created at import; the translator below raises them.
PyObject* g_state_error = nullptr;
PyObject* g_nonfinite_error = nullptr;
PyObject* g_cuda_error = nullptr;

void translate(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const NonFiniteError& e) {
    PyObject* exc = PyObject_CallFunction(g_nonfinite_error, "s", e.what());
    if (exc != nullptr) {
      PyObject* batch = PyLong_FromUnsignedLongLong(e.batch);
      PyObject* element = PyLong_FromUnsignedLongLong(e.element);
      PyObject_SetAttrString(exc, "batch", batch);
      PyObject_SetAttrString(exc, "element", element);
      Py_XDECREF(batch);
      Py_XDECREF(element);
      PyErr_SetObject(g_nonfinite_error, exc);
      Py_DECREF(exc);
    }
  } catch (const StateError& e) {
    PyErr_SetString(g_state_error, e.what());
  } catch (const InvalidArgument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const CudaError& e) {
    PyErr_SetString(g_cuda_error, e.what());
  } catch (const Error& e) { // the shard readers' ReadError among them
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
}

PyObject* new_exception(nb::module_& m, const char* name, PyObject* base, const char* doc) {
  const std::string qualified = std::string("gpueval.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base, nullptr);
  if (type == nullptr) {
    throw nb::python_error();
  }
  m.attr(name) = nb::handle(type);
  return type;
}

} // namespace
} // namespace gpueval::python

NB_MODULE(_core, m) {
  namespace py = gpueval::python;
  m.doc() = "gpueval's C++ engine. Use the classes of the gpueval package, not this module.";
  m.attr("__version__") = std::string(gpueval::kVersion);
  m.attr("cuda_built") = gpueval::cuda_backend_built();
  py::g_state_error = py::new_exception(
      m, "StateError", PyExc_ValueError,
      "A state blob that is truncated, corrupted, of another version or of another spec.");
  py::g_nonfinite_error = py::new_exception(
      m, "NonFiniteError", PyExc_ValueError,
      "nan_policy='error' saw a NaN or infinite prediction or target. Raised by compute(); "
      "`batch` counts the evaluator's updates from 0, `element` is the C-order index within "
      "that batch.");
  py::g_cuda_error =
      py::new_exception(m, "CudaError", PyExc_RuntimeError,
                        "A CUDA runtime failure, or a CUDA device asked for where none is usable.");
  nanobind::register_exception_translator(&py::translate);
  py::bind_evaluator(m);
  py::bind_families(m);
#ifdef GPUEVAL_PY_SHARDS
  py::bind_shards(m);
#endif
}
