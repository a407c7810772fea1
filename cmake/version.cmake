# FLEETARC_VERSION_FULL: PROJECT_VERSION, or with the git commit when the source is a
# git checkout: "0.1.0+14.gfa89d5a" (14 commits past the tag v0.1.0, or past the root
# when there is no tag). A valid Debian version, ordered by commit count. The git
# HEAD log is a configure dependency, so a commit re-runs the configure step (only
# generated/version.c changes then).
set(FLEETARC_VERSION_FULL ${PROJECT_VERSION})
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${CMAKE_SOURCE_DIR} rev-parse --absolute-git-dir
                  OUTPUT_VARIABLE _git_dir OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _git_rc ERROR_QUIET)
  if(_git_rc EQUAL 0)
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${CMAKE_SOURCE_DIR} describe --tags --long --match "v[0-9]*"
                    OUTPUT_VARIABLE _git_desc OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _desc_rc ERROR_QUIET)
    if(_desc_rc EQUAL 0 AND _git_desc MATCHES "^v([0-9][^-]*)-([0-9]+)-g([0-9a-f]+)$")
      if(CMAKE_MATCH_2 STREQUAL "0")
        set(FLEETARC_VERSION_FULL ${CMAKE_MATCH_1})
      else()
        set(FLEETARC_VERSION_FULL "${CMAKE_MATCH_1}+${CMAKE_MATCH_2}.g${CMAKE_MATCH_3}")
      endif()
    else()
      execute_process(COMMAND ${GIT_EXECUTABLE} -C ${CMAKE_SOURCE_DIR} rev-list --count HEAD
                      OUTPUT_VARIABLE _git_count OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      execute_process(COMMAND ${GIT_EXECUTABLE} -C ${CMAKE_SOURCE_DIR} rev-parse --short=7 HEAD
                      OUTPUT_VARIABLE _git_hash OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(_git_count MATCHES "^[0-9]+$" AND _git_hash MATCHES "^[0-9a-f]+$")
        set(FLEETARC_VERSION_FULL "${PROJECT_VERSION}+${_git_count}.g${_git_hash}")
      endif()
    endif()
    foreach(_f logs/HEAD HEAD)
      if(EXISTS ${_git_dir}/${_f})
        set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_git_dir}/${_f})
      endif()
    endforeach()
  endif()
endif()
message(STATUS "fleetarc version ${FLEETARC_VERSION_FULL}")
