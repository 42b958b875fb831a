# One LibTorch, whole. TorchConfig.cmake finds libtorch.so, libc10.so and libc10_cuda.so with
# find_library(... PATHS <its prefix>/lib), which searches the system's folders first: with a
# pip torch or a LibTorch archive named through CMAKE_PREFIX_PATH on a machine that also has
# Debian's LibTorch, it takes Debian's libc10.so beside the chosen libtorch_cpu.so, and a program
# linked against both crashes on its first exception. gpueval names the libraries from the
# chosen prefix before find_package(Torch) reads its config (gpueval_torch_seed), and checks
# after it that every library came from there (gpueval_torch_check). Used by gpueval's build
# and by its installed package config, so a consumer's find_package(gpueval) gets the same Torch.

# The folder of the TorchConfig.cmake that find_package(Torch) will read when the caller named
# one (Torch_DIR, or CMAKE_PREFIX_PATH as find_package searches it); empty otherwise (the
# system's LibTorch, whose libraries are where the system looks).
function(gpueval_torch_config_dir out)
  set(found "")
  if(Torch_DIR AND EXISTS "${Torch_DIR}/TorchConfig.cmake")
    set(found "${Torch_DIR}")
  else()
    foreach(prefix IN LISTS CMAKE_PREFIX_PATH)
      foreach(suffix Torch share/cmake/Torch lib/cmake/Torch)
        if(NOT found AND EXISTS "${prefix}/${suffix}/TorchConfig.cmake")
          set(found "${prefix}/${suffix}")
        endif()
      endforeach()
    endforeach()
  endif()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

# The variables TorchConfig.cmake fills with find_library, and the library each names.
set(GPUEVAL_TORCH_LIBRARY_VARS TORCH_LIBRARY c10_LIBRARY C10_CUDA_LIBRARY kineto_LIBRARY)
set(GPUEVAL_TORCH_LIBRARY_NAMES torch c10 c10_cuda kineto)

# Before find_package(Torch): each of those variables from the chosen prefix's lib folder alone.
# A value the caller gave is kept.
function(gpueval_torch_seed)
  gpueval_torch_config_dir(config)
  if(NOT config)
    return()
  endif()
  get_filename_component(prefix "${config}/../../.." ABSOLUTE)
  # TorchConfig's find_dependency(Caffe2 PATHS <beside it>) searches the system's folders first
  # too, and Debian's Caffe2 config would bring Debian's torch and torch_cpu targets.
  get_filename_component(caffe2 "${config}/../Caffe2" ABSOLUTE)
  if(NOT Caffe2_DIR AND EXISTS "${caffe2}/Caffe2Config.cmake")
    set(Caffe2_DIR "${caffe2}" CACHE PATH "The chosen LibTorch's Caffe2 config" FORCE)
  endif()
  foreach(var name IN ZIP_LISTS GPUEVAL_TORCH_LIBRARY_VARS GPUEVAL_TORCH_LIBRARY_NAMES)
    if(NOT DEFINED CACHE{${var}})
      # Unfound (kineto in a pip torch), TorchConfig searches again, the system too: a library
      # it finds there is caught by gpueval_torch_check.
      find_library(${var} ${name} PATHS "${prefix}/lib" NO_DEFAULT_PATH)
    endif()
  endforeach()
endfunction()

# After find_package(Torch): fails when one of Torch's own libraries in TORCH_LIBRARIES (or one
# of the variables above) lies outside TORCH_INSTALL_PREFIX, naming it and the flag that fixes it. Sets
# GPUEVAL_TORCH_LIB_DIRS to the folders a program linked against this LibTorch needs at run time
# (its lib folder, and with a pip torch the nvidia-* wheels' folders its libraries load).
function(gpueval_torch_check)
  file(REAL_PATH "${TORCH_INSTALL_PREFIX}" prefix)
  set(paths "")
  foreach(item IN LISTS TORCH_LIBRARIES)
    get_filename_component(file "${item}" NAME)
    # Torch's own libraries; the CUDA toolkit's (nvrtc, cudart) come from wherever CUDA is.
    if(IS_ABSOLUTE "${item}" AND EXISTS "${item}" AND file MATCHES "^lib(torch|c10|caffe2|shm|kineto)")
      list(APPEND paths "${item}")
    endif()
  endforeach()
  foreach(var name IN ZIP_LISTS GPUEVAL_TORCH_LIBRARY_VARS GPUEVAL_TORCH_LIBRARY_NAMES)
    if(${var} AND EXISTS "${${var}}")
      list(APPEND paths "${${var}}")
    endif()
  endforeach()
  # The imported targets (from Caffe2's config) name their files themselves.
  foreach(target torch torch_cpu torch_cuda c10 c10_cuda)
    if(TARGET ${target})
      get_target_property(configs ${target} IMPORTED_CONFIGURATIONS)
      foreach(suffix "" ${configs})
        if(suffix)
          set(suffix "_${suffix}")
        endif()
        get_target_property(location ${target} IMPORTED_LOCATION${suffix})
        if(location AND EXISTS "${location}")
          list(APPEND paths "${location}")
        endif()
      endforeach()
    endif()
  endforeach()
  foreach(path IN LISTS paths)
    file(REAL_PATH "${path}" real)
    string(FIND "${real}" "${prefix}/" at)
    if(NOT at EQUAL 0)
      get_filename_component(file "${path}" NAME_WE)
      string(REGEX REPLACE "^lib" "" name "${file}")
      list(FIND GPUEVAL_TORCH_LIBRARY_NAMES "${name}" index)
      set(flag "")
      if(index GREATER_EQUAL 0)
        list(GET GPUEVAL_TORCH_LIBRARY_VARS ${index} var)
        set(flag " Configure with -D${var}=${TORCH_INSTALL_PREFIX}/lib/lib${name}.so (or a fresh build folder with -DTorch_DIR=${Torch_DIR}).")
      else()
        set(flag " Configure a fresh build folder with -DTorch_DIR=${Torch_DIR} -DCaffe2_DIR=${Torch_DIR}/../Caffe2.")
      endif()
      message(FATAL_ERROR
        "gpueval: LibTorch ${Torch_VERSION} is at ${TORCH_INSTALL_PREFIX}, but ${path} comes "
        "from another LibTorch (one on the system's library path): a program linked against "
        "both would load two versions of Torch.${flag}")
    endif()
  endforeach()
  set(dirs "${TORCH_INSTALL_PREFIX}/lib")
  file(GLOB wheels LIST_DIRECTORIES true "${TORCH_INSTALL_PREFIX}/../nvidia/*/lib")
  list(APPEND dirs ${wheels})
  set(GPUEVAL_TORCH_LIB_DIRS "${dirs}" PARENT_SCOPE)
endfunction()
