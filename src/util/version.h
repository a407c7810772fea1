/* The version of this build: the project's version from CMake, with the git commit
 * (`git describe`) when built from a git checkout, e.g. "0.1.0+412.gfa89d5a".
 * Written by CMake into generated/version.c (cmake/version.c.in). */
#ifndef FLEETARC_UTIL_VERSION_H
#define FLEETARC_UTIL_VERSION_H

extern const char fleetarc_version[];

#endif
