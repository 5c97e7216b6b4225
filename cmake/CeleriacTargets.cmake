# Helpers that give every celeriac target the same shape and the same flags.

# Flags for code we write: warnings are errors; sanitizers when asked for.
function(celeriac_target_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror -Wshadow
                                           -Wnon-virtual-dtor -Wold-style-cast)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports false -Wrestrict positives inside libstdc++'s std::string
    # at -O2/-O3 (GCC bug 105329); nothing of ours triggers it.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(CELERIAC_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # With ASan at -O2, GCC 12 reports -Wmaybe-uninitialized inside
    # libstdc++'s std::regex (pulled in by cxxopts); a false positive of the
    # instrumented build only, which the plain build still checks.
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  if(CELERIAC_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${CELERIAC_SANITIZE}
                                             -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${CELERIAC_SANITIZE})
  endif()
  if(CELERIAC_FUZZ)
    # Coverage instrumentation for libFuzzer; fuzz targets add -fsanitize=fuzzer to link.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
endfunction()

# celeriac_module(NAME SOURCES ... DEPENDS ...)
#   A library target celeriac_<NAME> (alias celeriac::<NAME>) built from
#   <NAME>/src/*.cpp, publishing <NAME>/include/celeriac/<NAME>/. DEPENDS names
#   other modules and celeriac::dep:: targets; nothing else is on its include
#   path, so an include of a module it may not use fails the build.
function(celeriac_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(celeriac_${name} STATIC ${ARG_SOURCES})
  add_library(celeriac::${name} ALIAS celeriac_${name})
  target_include_directories(celeriac_${name}
    PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(celeriac_${name} PUBLIC ${ARG_DEPENDS})
  celeriac_target_flags(celeriac_${name})
  set_property(GLOBAL APPEND PROPERTY CELERIAC_MODULES ${name})
endfunction()

# celeriac_executable(NAME SOURCES ... DEPENDS ...)
function(celeriac_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPENDS})
  celeriac_target_flags(${name})
endfunction()
