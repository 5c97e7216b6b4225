cmake_minimum_required(VERSION 3.25)
# Fails when a module includes or links something DESIGN.md does not allow it.
# Run by ctest as: cmake -DSOURCE_DIR=... -DMODULES_FILE=... -P check_layering.cmake
#
# ALLOW_<module>: every dependency (module or third-party) the module may use,
# directly or through a module it depends on. Arrows point one way:
#   cli -> {worker, scheduler, server, tasks} -> {broker, store} -> core
# client (the app library) sits beside worker: it uses broker and store.
set(ALLOW_core json fmt toml date_tz)
set(ALLOW_broker core json fmt toml date_tz rabbitmq uv curl spdlog)
set(ALLOW_store core json fmt toml date_tz pqxx uv spdlog)
set(ALLOW_client core broker store json fmt toml date_tz rabbitmq uv curl pqxx spdlog)
set(ALLOW_worker core broker store json fmt toml date_tz rabbitmq uv curl pqxx spdlog httplib)
set(ALLOW_scheduler core broker store json fmt toml date_tz rabbitmq uv curl pqxx spdlog httplib uuid)
set(ALLOW_server core broker store json fmt toml date_tz rabbitmq uv curl pqxx spdlog httplib)
set(ALLOW_tasks core broker store worker json fmt toml date_tz rabbitmq uv curl pqxx spdlog)
set(ALLOW_cli core broker store client worker scheduler server tasks json fmt toml date_tz rabbitmq uv curl pqxx spdlog httplib cxxopts uuid)

# Which dependency an include belongs to, by the include's prefix.
set(HEADER_PREFIXES
  "uv.h=uv" "amqp=rabbitmq" "pqxx/=pqxx" "httplib.h=httplib" "curl/=curl"
  "spdlog/=spdlog" "toml++/=toml" "date/=date_tz" "nlohmann/=json" "fmt/=fmt"
  "cxxopts.hpp=cxxopts" "libpq-fe.h=pqxx" "uuid/=uuid")

include(${MODULES_FILE})
set(failures "")

foreach(module IN LISTS CELERIAC_MODULES)
  if(NOT DEFINED ALLOW_${module})
    list(APPEND failures "${module}: module has no entry in the layering allowlist")
    continue()
  endif()
  # Links: celeriac::<m> or celeriac::dep::<d>
  foreach(link IN LISTS LINKS_${module})
    string(REGEX REPLACE "^celeriac::(dep::)?" "" dep "${link}")
    if(NOT dep IN_LIST ALLOW_${module})
      list(APPEND failures "${module}: links ${link}, which DESIGN.md does not allow")
    endif()
  endforeach()
  # Includes
  file(GLOB_RECURSE sources ${SOURCE_DIR}/${module}/*.cpp ${SOURCE_DIR}/${module}/*.hpp)
  foreach(source IN LISTS sources)
    file(STRINGS ${source} includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
    foreach(line IN LISTS includes)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*" "\\1" header "${line}")
      set(dep "")
      if(header MATCHES "^celeriac/([a-z]+)/")
        set(dep ${CMAKE_MATCH_1})
        if(dep STREQUAL module)
          continue()
        endif()
      else()
        foreach(pair IN LISTS HEADER_PREFIXES)
          string(REPLACE "=" ";" pair "${pair}")
          list(GET pair 0 prefix)
          list(GET pair 1 name)
          string(FIND "${header}" "${prefix}" at)
          if(at EQUAL 0)
            set(dep ${name})
            break()
          endif()
        endforeach()
      endif()
      if(dep AND NOT dep IN_LIST ALLOW_${module})
        file(RELATIVE_PATH rel ${SOURCE_DIR} ${source})
        list(APPEND failures "${rel}: includes <${header}> (${dep}), which ${module} may not use")
      endif()
    endforeach()
  endforeach()
endforeach()

list(LENGTH CELERIAC_MODULES count)
if(failures)
  list(JOIN failures "\n  " text)
  message(FATAL_ERROR "layering violations:\n  ${text}")
endif()
message(STATUS "layering: ${count} module(s) checked, no violations")
