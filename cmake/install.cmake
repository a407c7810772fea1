# Man pages (generated from --help and conf/fleetarc.yaml by cmake/mkman.sh), the
# install rules and the Debian package (cpack -G DEB). Layout with the prefix /usr:
#   /usr/bin/fleetarc, /usr/bin/fleetarc-sim
#   /usr/share/man/man1/fleetarc.1.gz, fleetarc-sim.1.gz, man5/fleetarc.yaml.5.gz
#   /usr/lib/systemd/system/fleetarc.service (ExecStart paths follow the prefix)
#   /etc/fleetarc/fleetarc.yaml: the reference, installed only when absent (noreplace;
#     a conffile in the package, so dpkg keeps local changes too)
#   /usr/share/fleetarc/roles.sql, /usr/share/fleetarc/sql/NNN_*.sql
#   /usr/share/doc/fleetarc/README.md, README.deploy.md, fleetarc.yaml (pristine)
# Configure with -DCMAKE_INSTALL_PREFIX=/usr for a system install: the unit's ExecStart
# paths are fixed when configuring (an install-time --prefix does not change them).
set(FLEETARC_SYSTEMD_UNITDIR "lib/systemd/system" CACHE PATH
    "Where the systemd unit is installed (relative: under the prefix)")

set(MAN_DIR ${CMAKE_BINARY_DIR}/man)
set(MAN_PAGES)
foreach(page fleetarc.1 fleetarc-sim.1 fleetarc.yaml.5)
  if(page STREQUAL "fleetarc.1")
    set(input $<TARGET_FILE:fleetarc>)
    set(deps fleetarc)
  elseif(page STREQUAL "fleetarc-sim.1")
    if(NOT TARGET fleetarc-sim)
      continue()
    endif()
    set(input $<TARGET_FILE:fleetarc-sim>)
    set(deps fleetarc-sim)
  else()
    set(input ${CMAKE_SOURCE_DIR}/conf/fleetarc.yaml)
    set(deps ${CMAKE_SOURCE_DIR}/conf/fleetarc.yaml)
  endif()
  add_custom_command(OUTPUT ${MAN_DIR}/${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${MAN_DIR}
    COMMAND ${CMAKE_SOURCE_DIR}/cmake/mkman.sh ${page} ${MAN_DIR}/${page} ${input} ${FLEETARC_VERSION_FULL}
    COMMAND gzip -9nf ${MAN_DIR}/${page}
    DEPENDS ${deps} ${CMAKE_SOURCE_DIR}/cmake/mkman.sh
    COMMENT "Generating the man page ${page}"
    VERBATIM)
  list(APPEND MAN_PAGES ${MAN_DIR}/${page}.gz)
  string(REGEX MATCH "[0-9]$" section ${page})
  install(FILES ${MAN_DIR}/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(man ALL DEPENDS ${MAN_PAGES})

install(TARGETS fleetarc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET fleetarc-sim)
  install(TARGETS fleetarc-sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# The unit, its binary paths set to where this install puts them.
file(READ ${CMAKE_SOURCE_DIR}/deploy/fleetarc.service _unit)
string(REPLACE "/usr/bin/fleetarc" "${CMAKE_INSTALL_FULL_BINDIR}/fleetarc" _unit "${_unit}")
string(REPLACE "file:///usr/share/doc/fleetarc/" "file://${CMAKE_INSTALL_FULL_DOCDIR}/" _unit "${_unit}")
file(WRITE ${CMAKE_BINARY_DIR}/generated/fleetarc.service.tmp "${_unit}")
configure_file(${CMAKE_BINARY_DIR}/generated/fleetarc.service.tmp
               ${CMAKE_BINARY_DIR}/generated/fleetarc.service COPYONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/deploy/fleetarc.service)
install(FILES ${CMAKE_BINARY_DIR}/generated/fleetarc.service DESTINATION ${FLEETARC_SYSTEMD_UNITDIR})

# The configuration: never overwrite an existing one (the admin's edits). The prefix
# /usr puts it in /etc (as GNUInstallDirs does), any other prefix in PREFIX/etc.
install(CODE "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(_etc /etc/fleetarc)
  else()
    set(_etc \"\${CMAKE_INSTALL_PREFIX}/etc/fleetarc\")
  endif()
  if(EXISTS \"\$ENV{DESTDIR}\${_etc}/fleetarc.yaml\")
    message(STATUS \"Keeping: \$ENV{DESTDIR}\${_etc}/fleetarc.yaml (the reference is in share/doc/fleetarc)\")
  else()
    file(INSTALL \"${CMAKE_SOURCE_DIR}/conf/fleetarc.yaml\" DESTINATION \"\${_etc}\"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
  endif()")
install(FILES conf/fleetarc.yaml README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES deploy/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME README.deploy.md)
install(FILES deploy/roles.sql DESTINATION ${CMAKE_INSTALL_DATADIR}/fleetarc)
install(FILES ${SQL_MIGRATIONS} DESTINATION ${CMAKE_INSTALL_DATADIR}/fleetarc/sql)

# cpack -G DEB (from the build folder): Depends from dpkg-shlibdeps, the maintainer
# scripts of cmake/deb (system user, unit enabled but not started), the conffile.
set(CPACK_PACKAGE_NAME fleetarc)
set(CPACK_PACKAGE_VERSION ${FLEETARC_VERSION_FULL})
set(CPACK_PACKAGE_CONTACT "fleetarc maintainers <fleetarc@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "GPS-history archiver: a tracking platform's Open API into PostgreSQL")
set(CPACK_PACKAGE_DESCRIPTION "fleetarc archives the GPS history of vehicle fleets (positions, alarms,
daily mileage) from a tracking platform's Open API into PostgreSQL, keeps it
complete while it runs, and answers reporting questions in SQL. Includes
fleetarc-sim, a simulator of the API.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)   # /etc stays /etc in the package
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "init-system-helpers, passwd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql-client")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/cmake/deb/postinst ${CMAKE_SOURCE_DIR}/cmake/deb/prerm
  ${CMAKE_SOURCE_DIR}/cmake/deb/postrm ${CMAKE_SOURCE_DIR}/cmake/deb/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_GENERATOR DEB)
include(CPack)
