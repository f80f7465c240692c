<?php
/**
 * Plugin Name: Retainful self-hosted
 * Description: Points the official Retainful plugin at a self-hosted Retainful backend instead of Retainful's SaaS.
 *
 * Copy this file to wp-content/mu-plugins/ and add to wp-config.php:
 *     define('RETAINFUL_SELF_HOSTED_URL', 'https://recovery.example.com');
 * Then paste the App ID and Secret Key from `retainful plugin-credentials STORE_ID` into the plugin's settings.
 */

if (!defined('ABSPATH') || !defined('RETAINFUL_SELF_HOSTED_URL')) {
    return;
}

function retainful_self_hosted_url($path = '')
{
    return rtrim(RETAINFUL_SELF_HOSTED_URL, '/') . '/retainful/v1/' . $path;
}

add_filter('retainful_domain_url', function () {
    return retainful_self_hosted_url();
});
// The plugin posts carts through the Requests library directly where WordPress has it loaded, past the
// http_request_args filter below; so the app id also goes into this base URL, which the service reads as well.
add_filter('retainful_abandoned_cart_api_url', function () {
    $license = function_exists('get_option') ? get_option('retainful_license', array()) : array();
    $app_id = is_array($license) ? ($license['rnoc_retainful_app_id'] ?? '') : '';
    return retainful_self_hosted_url($app_id === '' ? 'woocommerce/' : 'woocommerce/' . rawurlencode($app_id) . '/');
});
add_filter('rnoc_get_abandoned_cart_tracking_js_engine_url', function () {
    return retainful_self_hosted_url('woocommerce/retainful.js');
});

// The plugin names the store in an `app_id` header, which most web servers drop (underscore); send it as App-Id too.
add_filter('http_request_args', function ($args, $url) {
    if (strpos($url, retainful_self_hosted_url()) !== 0 || !is_array($args['headers'] ?? null)) {
        return $args;
    }
    foreach ($args['headers'] as $name => $value) {
        if (strtolower($name) === 'app_id' || strtolower($name) === 'app-id') {
            $args['headers']['App-Id'] = $value;
            unset($args['headers'][$name]);
            break;
        }
    }
    return $args;
}, 10, 2);
