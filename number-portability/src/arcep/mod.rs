//! ARCEP open data import (placeholder).
