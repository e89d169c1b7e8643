//! Configuration file: parsed and validated here (see issue "Foundation").
