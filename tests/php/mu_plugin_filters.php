<?php
/*
 * Loads the must-use plugin with stand-ins for the WordPress functions it uses and prints, as JSON, what its filters
 * return. Usage: php mu_plugin_filters.php MU_PLUGIN BASE_URL [APP_ID]
 */
define('ABSPATH', '/tmp/');
define('RETAINFUL_SELF_HOSTED_URL', $argv[2]);
$GLOBALS['filters'] = array();
function add_filter($name, $callback, $priority = 10, $args = 1) { $GLOBALS['filters'][$name] = $callback; }
function get_option($name, $default = false) {
    global $argv;
    return ($name === 'retainful_license' && isset($argv[3])) ? array('rnoc_retainful_app_id' => $argv[3]) : $default;
}
require $argv[1];
$f = $GLOBALS['filters'];
$request = array('headers' => array('app_id' => 'the-app-id', 'Content-Type' => 'application/json'));
echo json_encode(array(
    'domain' => $f['retainful_domain_url']('https://api.retainful.com/v1/'),
    'abandoned_cart' => $f['retainful_abandoned_cart_api_url']('https://api.retainful.com/v1/woocommerce/'),
    'js_engine' => $f['rnoc_get_abandoned_cart_tracking_js_engine_url']('https://js.retainful.com/retainful.js'),
    'ours' => $f['http_request_args']($request, rtrim($argv[2], '/') . '/retainful/v1/woocommerce/webhooks/checkout'),
    'elsewhere' => $f['http_request_args']($request, 'https://api.wordpress.org/plugins/'),
), JSON_UNESCAPED_SLASHES), "\n";
